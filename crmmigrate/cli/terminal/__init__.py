"""All terminal output of crmmigrate: a module per command (`extract`, `validate`, `run`...) and
the console, messages and progress they share (`console`). Library modules return data; only
these modules decide how it looks."""
