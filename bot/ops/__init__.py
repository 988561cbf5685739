"""Operations: status, the instance lock, shutdown, and the demo with its loopback servers."""
