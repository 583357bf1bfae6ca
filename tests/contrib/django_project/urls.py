from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponse
from django.urls import path

from scheduler.contrib.django.views import health


def ping(request: object) -> HttpResponse:
    return HttpResponse("pong")


urlpatterns = [
    path("ping", ping),
    path("healthz/scheduler", health),
    path("admin/", admin.site.urls),
]
