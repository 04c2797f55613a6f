"""Development environments (spec 01 §2.1.1): JupyterLab, Web terminal, RStudio ... as one
long-lived service job of their user, reached through the portal's proxy (core.services,
origin devenv). The types are plugins (core.api.EnvironmentType); the rules live in
core.environments.service."""
