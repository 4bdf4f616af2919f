#!/usr/bin/env python3
"""Stand-in for pip's get-pip.py in ansible-test's sanity environments.

ansible-test creates each sanity test's virtual environment without pip and
bootstraps it with a get-pip.py it downloads from ci-files.testing.ansible.com
(cached as ~/.ansible/test/cache/get_pip_<version>.py). That host is not
reachable from every machine; PyPI is. scripts/ansible-test.sh puts this file
at the cache path when nothing is there: it installs the interpreter's own
bundled pip (ensurepip), then the exact packages ansible-test asks for
(pip==<version> ...) from PyPI. ansible-test passes get-pip's own options
--no-setuptools and --no-wheel, which pip install does not take: dropped."""

import subprocess
import sys

GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')


def main():
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet'] + args)


if __name__ == '__main__':
    main()
