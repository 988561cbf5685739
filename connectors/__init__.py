"""Everything that talks to another system; each connector speaks deskbot's Ticket at its edge."""
