"""``python -m edgecv.portable ...`` on a host; inside the zipapp, ``python3 edgecv_device.pyz ...``."""

import sys

from .cli import main

sys.exit(main())
