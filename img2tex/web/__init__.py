"""The local web page and JSON API of `img2tex serve` (see `app`)."""
