from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView


class WhoAmIView(APIView):
    """The signed-in user: who the API thinks you are."""

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = get_user_model()
            fields = ["id", "username", "email", "is_staff"]

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response(self.OutputSerializer(request.user).data)
