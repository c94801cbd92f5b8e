from django.contrib import admin
from django.urls import path

from greetings import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("greet/<str:name>", views.greet),
    path("results/<str:result_id>", views.result),
]
