from rest_framework.routers import SimpleRouter

from .views import VIEWSETS

router = SimpleRouter()
for prefix, viewset in VIEWSETS.items():
    router.register(prefix, viewset, basename=prefix)

urlpatterns = router.urls
