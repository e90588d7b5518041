"""From a checkout: the installed ``electra-pretrain`` command (electra.commands.pretrain)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from electra.commands.pretrain import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
