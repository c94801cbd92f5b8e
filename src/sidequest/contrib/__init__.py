"""Framework integrations: ``sidequest.contrib.django``, ``.flask`` and ``.fastapi``.

Each is imported only by applications that use it; ``import sidequest`` imports none of them, so no
framework is ever a dependency of the core (install one with the ``django``, ``flask`` or ``fastapi``
extra).
"""
