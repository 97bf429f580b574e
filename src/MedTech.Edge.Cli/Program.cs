using MedTech.Edge.Cli;

return MedTechCommand.Run(args, Console.Out, Console.Error);
