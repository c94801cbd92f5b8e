#!/bin/sh
# The worker in a container: the web image, another command. --init forwards TERM to the worker.
docker run --init --stop-timeout 35 -e SIDEQUEST_URL=redis://redis:6379/0 mysite:latest \
  python manage.py sidequest_worker -c 10
