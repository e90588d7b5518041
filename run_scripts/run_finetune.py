"""From a checkout: the installed ``electra-finetune`` command (electra.commands.finetune)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from electra.commands.finetune import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
