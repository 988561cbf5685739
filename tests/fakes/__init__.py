"""Stateful fakes of the Zendesk and Freshdesk APIs, plugged in with httpx.MockTransport."""
