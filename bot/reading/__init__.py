"""Reading input: files, standard input, links fetched safely and Telegram text → an `Article`."""
