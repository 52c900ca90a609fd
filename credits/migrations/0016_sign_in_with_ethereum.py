"""Sign-In with Ethereum: its single-use nonces, the owner tokens it issues (hashed like the API
keys), and who made each API key."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0015_lean_write_paths'),
    ]

    operations = [
        migrations.CreateModel(
            name='SignInNonce',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('nonce', models.CharField(max_length=64, unique=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('expires_at', models.DateTimeField(db_index=True)),
                ('used_at', models.DateTimeField(blank=True, null=True)),
                ('message_sha256', models.CharField(blank=True, help_text='SHA-256 of the message that used the nonce: tells a replay of that message from another message with the same nonce.', max_length=64)),
            ],
            options={
                'verbose_name': 'sign-in nonce',
            },
        ),
        migrations.AddField(
            model_name='apikey',
            name='created_by',
            field=models.CharField(blank=True, editable=False, help_text='Who made it: a staff user, `manage.py create_api_key`, or the owner itself (its wallet sign-in token or another of its keys). Empty: before this was recorded.', max_length=200),
        ),
        migrations.CreateModel(
            name='OwnerToken',
            fields=[
                ('id', models.CharField(editable=False, max_length=150, primary_key=True, serialize=False, unique=True)),
                ('prefix', models.CharField(editable=False, max_length=8, unique=True)),
                ('hashed_key', models.CharField(editable=False, max_length=150)),
                ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('name', models.CharField(default=None, help_text='A free-form name for the API key. Need not be unique. 50 characters max.', max_length=50)),
                ('revoked', models.BooleanField(blank=True, default=False, help_text='If the API key is revoked, clients cannot use it anymore. (This cannot be undone.)')),
                ('expiry_date', models.DateTimeField(blank=True, help_text='Once API key expires, clients cannot use it anymore.', null=True, verbose_name='Expires')),
                ('chain_id', models.BigIntegerField(help_text='The chain id of the signed message.')),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='owner_tokens', to='credits.account')),
            ],
            options={
                'verbose_name': 'owner token (wallet sign-in)',
                'verbose_name_plural': 'owner tokens (wallet sign-in)',
                'ordering': ('-created',),
                'abstract': False,
            },
        ),
    ]
