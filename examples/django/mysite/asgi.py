"""ASGI entry point (`uvicorn mysite.asgi:application`): Django, with sidequest's dashboard at
/sidequest for staff users (log in at /admin/)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django_application = get_asgi_application()

from sidequest.contrib.django.dashboard import with_dashboard  # noqa: E402  (after Django is set up)

application = with_dashboard(django_application, prefix="/sidequest")
