"""deskbot: pulls support tickets, classifies, routes and acknowledges them."""
