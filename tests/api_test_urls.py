"""A test-local URLconf: the site's own URLs plus one tiny API view that uses the API's access classes
explicitly, so tokens and rate limits are tested without the real read API (profiles/api)."""

from django.urls import path
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from btwprofiles.urls import urlpatterns as site_urlpatterns
from membership.api_auth import ReaderRateThrottle, TokenAuthentication
from membership.readers import member_reader


class LevelView(APIView):
    """What the data layer would read for this request: the caller's member level."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    throttle_classes = [ReaderRateThrottle]
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]

    def get(self, request):
        return Response({"level": member_reader(request.user).level})


urlpatterns = [
    path("api-test/level/", LevelView.as_view(), name="api_test_level"),
    *site_urlpatterns,
]

handler403 = "btwprofiles.errors.permission_denied"
handler404 = "btwprofiles.errors.page_not_found"
handler500 = "btwprofiles.errors.server_error"
