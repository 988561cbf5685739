"""Learning from agents: corrections captured from every source, accuracy over time, shadow retraining."""
