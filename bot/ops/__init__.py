"""Operations: settings, errors, logs, metrics, `newsbot check` and the command line."""
