"""Ticket classifier: text preparation, features, model, explanations, evaluation."""
