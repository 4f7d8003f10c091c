"""Generates the botocore SigV2 vectors hard-coded in http/src/sigv2/tests.rs.

Run with botocore/boto3 installed (checked with 1.43.11): `python3 sigv2_botocore.py`.
The clock is pinned so the output never changes; the credentials are AWS's examples.
"""
import time
from email.utils import formatdate
from unittest import mock

import boto3
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

NOW = 1_700_000_000  # 2023-11-14T22:13:20Z
creds = Credentials('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')

# 1. Header form (HmacV1Auth): UploadPart, path style, with x-amz-* headers.
req = AWSRequest(method='PUT',
    url='http://localhost:9000/bucket/photos/a%20b.jpg?uploadId=2~x%2By&partNumber=7',
    headers={'Content-Type': 'image/jpeg', 'Content-MD5': '1B2M2Y8AsgTpgAmY7PhCfg==',
             'X-Amz-Meta-Color': ' blue ', 'x-amz-storage-class': 'STANDARD'})
with mock.patch('botocore.auth.formatdate', lambda usegmt: formatdate(NOW, usegmt=True)):
    HmacV1Auth(creds).add_auth(req)
print('header:', req.url)
for k, v in req.headers.items():
    print(f'  {k}: {v}')

# 2. Query form (HmacV1QueryAuth) straight from the signer, with signed sub-resources.
req = AWSRequest(method='GET',
    url='http://localhost:9000/bucket/photos/a%20b.jpg?response-content-disposition=attachment%3B%20filename%3D%22x.jpg%22&versionId=v1')
with mock.patch('botocore.auth.time.time', lambda: NOW):
    HmacV1QueryAuth(creds, expires=3600).add_auth(req)
print('query:', req.url)

# 3. boto3 generate_presigned_url with signature_version='s3' (the client path users hit).
s3 = boto3.client('s3', endpoint_url='http://localhost:9000', region_name='us-east-1',
                  aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
                  config=Config(signature_version='s3', s3={'addressing_style': 'path'}))
with mock.patch('botocore.auth.time.time', lambda: NOW):
    print('boto3:', s3.generate_presigned_url(
        'get_object', Params={'Bucket': 'bucket', 'Key': 'photos/puppy.jpg'}, ExpiresIn=600))
