"""The web console's files (``static/``: index.html, ES modules, CSS), served by the cloud's
HTTP server (:mod:`polc.cloud.http.app`) straight from the installed package: plain HTML and
vanilla JavaScript modules, no build step. Installed as package data (pyproject.toml)."""
