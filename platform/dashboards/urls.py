from django.contrib.auth import views as auth_views
from django.urls import path

from dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.dashboard, name="home"),
    path(
        "login/", auth_views.LoginView.as_view(template_name="dashboards/login.html"), name="login"
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
