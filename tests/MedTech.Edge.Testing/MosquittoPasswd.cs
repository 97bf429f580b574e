using System.Diagnostics;

namespace MedTech.Edge.Testing;

/// <summary>Debian's real <c>mosquitto_passwd</c> (package mosquitto), so password files are the ones operators make.</summary>
public static class MosquittoPasswd
{
    public const string Binary = "/usr/bin/mosquitto_passwd";

    /// <summary>Adds (or with <paramref name="create"/> starts the file with) a user; <paramref name="sha512"/> writes Mosquitto 1.6's <c>$6$</c>.</summary>
    public static void Add(string file, string user, string password, bool create = false, bool sha512 = false)
    {
        var args = new List<string>();
        if (sha512)
        {
            args.AddRange(["-H", "sha512"]);
        }

        if (create)
        {
            args.Add("-c");
        }

        args.AddRange(["-b", file, user, password]);
        Run(args);
    }

    /// <summary>A new password file at <paramref name="file"/> holding these users; returns its path.</summary>
    public static string Write(string file, params IEnumerable<(string User, string Password)> users)
    {
        var first = true;
        foreach (var (user, password) in users)
        {
            Add(file, user, password, create: first);
            first = false;
        }

        return file;
    }

    /// <summary><c>mosquitto_passwd -U</c>: hashes a file of plain <c>user:password</c> lines in place.</summary>
    public static void HashInPlace(string file) => Run(["-U", file]);

    private static void Run(List<string> args)
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException("mosquitto_passwd is not installed: apt-get install mosquitto.");
        }

        var start = new ProcessStartInfo(Binary) { RedirectStandardError = true, RedirectStandardOutput = true };
        args.ForEach(start.ArgumentList.Add);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"mosquitto_passwd failed ({process.ExitCode}): {error}");
        }
    }
}
