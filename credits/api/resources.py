"""Placeholder: being written."""
from rest_framework.views import APIView


class _Pending(APIView):
    pass


ResourceCreateView = ResourceDetailView = AffordabilityView = TokenBalanceView = CostsView = _Pending
