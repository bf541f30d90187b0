"""One module per console screen; :data:`SCREENS` lists them in the order of their number keys."""
