#!/bin/sh
# The worker in a container: the app image, another command. --init forwards TERM to the worker.
docker run --init --stop-timeout 35 -e SIDEQUEST_URL=redis://redis:6379/0 app:latest \
  sidequest worker -r jobs -c 10
