"""The web pages the daemon serves on [web] listen: the manager's dashboard and the client's page and feed."""
