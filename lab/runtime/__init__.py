"""Where nodes run: local processes or Docker containers, behind one interface."""
