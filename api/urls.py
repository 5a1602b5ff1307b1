from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from api.metrics import metrics
from api.schema import schema
from api.views import GraphQLView
from submissions import views

graphql = GraphQLView.as_view(schema=schema, graphql_ide="graphiql" if settings.GRAPHIQL else None)

urlpatterns = [
    path("", views.submission_list, name="submission-list"),
    path("submissions/<int:submission_id>/", views.submission_detail, name="submission-detail"),
    path("graphql/", graphql),
    path("graphql", graphql),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("metrics", metrics),
]
