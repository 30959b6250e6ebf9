"""Small files in the MCU's flash, each replaced atomically (write a temp file, then rename)."""

import os


class FileStore:
    """Named small files under root ("" is the current directory, "/" on the device)."""

    def __init__(self, root=""):
        self.root = root

    def path(self, name):
        """The path of the file called name."""
        if not self.root:
            return name
        return self.root.rstrip("/") + "/" + name

    def read(self, name):
        """The bytes of file name, or None if it does not exist."""
        path = self.path(name)
        # A crash between removing the old file and renaming the new one leaves only the
        # temp file (file systems whose rename does not replace): it is the newest copy.
        for candidate in (path, path + ".tmp"):
            try:
                with open(candidate, "rb") as f:
                    return f.read()
            except OSError:
                continue
        return None

    def write(self, name, data):
        """Replace file name with data; raise OSError if the flash refuses."""
        path = self.path(name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
        try:
            os.rename(tmp, path)  # littlefs and POSIX replace atomically
        except OSError:
            try:  # noqa: SIM105 (MicroPython has no contextlib)
                os.remove(path)  # FAT refuses to rename onto an existing file
            except OSError:
                pass
            os.rename(tmp, path)
