"""Controllers: connect the views' signals to the engine client and the settings."""
