"""From a checkout: the installed ``electra-evaluate-squad`` command (electra.commands.evaluate_squad)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from electra.commands.evaluate_squad import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
