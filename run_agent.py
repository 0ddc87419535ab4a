"""Run stayline from a source checkout: ``python run_agent.py --help``.

Same behaviour as the installed ``stayline`` console script.
"""

from agent.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
