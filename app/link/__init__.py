"""The GUI's Link tab: the codec link's panel (``panel``) and what drives it (``controller``)."""
