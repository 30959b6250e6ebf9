"""Runs one portable test module on MicroPython: each test function in a fresh empty directory
(the MCU's flash), one `@@ PASS name` or `@@ FAIL name` line (then the traceback) per test.

MicroPython only: test_cpython_on_micropython.py starts it as
`micropython tests/firmware/mpy_runner.py MODULE` (CPython runs the same tests with pytest).
"""

import os
import sys


def _module(name):
    module = __import__("tests.firmware." + name)
    for part in ("firmware", name):
        module = getattr(module, part)
    return module


def main(name):
    root = os.getcwd()
    os.mkdir("flash")
    module = _module(name)
    tests = sorted(n for n in dir(module) if n.startswith("test_"))
    failed = 0
    for i in range(len(tests)):
        test = getattr(module, tests[i])
        flash = root + "/flash/" + str(i)
        os.mkdir(flash)
        os.chdir(flash)
        try:
            test()
        except Exception as err:
            failed += 1
            print("@@ FAIL", tests[i])
            sys.print_exception(err)
        else:
            print("@@ PASS", tests[i])
        finally:
            os.chdir(root)
    print("@@ DONE", len(tests), failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
