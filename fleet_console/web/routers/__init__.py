"""The console's page routers: thin, each over the service and store layers, none importing another."""
