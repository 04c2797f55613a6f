import tests.localhost_names  # noqa: F401  (service origins *.svc.localhost, as in browsers)
