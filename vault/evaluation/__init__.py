"""ISO/IEC 30136-style evaluation of the protection modes (``biovault evaluate``)."""
