"""Run the portal. With no configuration it starts in demo mode on the built-in sandbox services.

    python app.py [--host 127.0.0.1] [--port 5000]
    waitress-serve app:app  or  gunicorn app:app        (production: see README.md)
"""
import sys

from cpp.sandbox.demo import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
else:
    from cpp import create_app

    app = create_app()
