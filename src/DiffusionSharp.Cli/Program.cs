using DiffusionSharp.Cli;

return CliApp.Create().Run(args);
