from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponse
from django.urls import path


def ping(request: object) -> HttpResponse:
    return HttpResponse("pong")


urlpatterns = [path("ping", ping), path("admin/", admin.site.urls)]
