"""Unit tests of the sigil command's pure parts."""
