namespace MedTech.Edge.Cli.Tests;

/// <summary>Runs the <c>medtech</c> command in-process, as a user would type it, and keeps what it printed.</summary>
internal static class CommandLine
{
    public static (int Exit, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = MedTechCommand.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }
}
