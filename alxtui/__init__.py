"""The ALX Report console (``alx tui``): screens, widgets and one stylesheet, nothing else.

Data comes from the core services in :mod:`alxapi` inside thread workers (see
:class:`alxtui.screens.base.LiveScreen`); no SQL is written here.
"""
