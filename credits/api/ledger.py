"""Placeholder: being written."""
from rest_framework.views import APIView


class _Pending(APIView):
    pass


BalanceView = CreditHistoryView = GrantView = ExpenseView = TransferView = _Pending
