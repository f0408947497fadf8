version: '2'
services:
  ecr-updater:
    image: ghcr.io/rancher-ecr-credentials/rancher-ecr-credentials:0.1.0
    environment:
      AWS_REGION: '${aws_region}'
      {{- if .Values.aws_access_key_id }}
      AWS_ACCESS_KEY_ID: '${aws_access_key_id}'
      AWS_SECRET_ACCESS_KEY: '${aws_secret_access_key}'
      {{- end }}
      {{- if .Values.config_directory }}
      CONFIG_FILE: /etc/rancher-ecr-credentials/config.toml
      {{- else }}
      {{- if .Values.aws_role_arn }}
      AWS_ROLE_ARN: '${aws_role_arn}'
      {{- end }}
      {{- if .Values.aws_role_external_id }}
      AWS_ROLE_EXTERNAL_ID: '${aws_role_external_id}'
      {{- end }}
      {{- if .Values.aws_ecr_registry_ids }}
      AWS_ECR_REGISTRY_IDS: '${aws_ecr_registry_ids}'
      {{- end }}
      {{- if .Values.ecr_proxy_host }}
      ECR_PROXY_HOST: '${ecr_proxy_host}'
      {{- end }}
      AUTO_CREATE: '${auto_create}'
      ECR_DISCOVER: '${ecr_discover}'
      {{- if and (eq .Values.registry_in_which_environment "other") .Values.rancher_environments }}
      RANCHER_ENVIRONMENTS: '${rancher_environments}'
      {{- end }}
      {{- end }}
      REFRESH_INTERVAL: '${refresh_interval}'
      LOG_LEVEL: '${log_level}'
      LOG_FORMAT: '${log_format}'
      LISTEN_PORT: '8080'
      {{- if eq .Values.registry_in_which_environment "other" }}
      CATTLE_URL: '${environment_api_endpoint}'
      CATTLE_ACCESS_KEY: '${environment_api_access_key}'
      CATTLE_SECRET_KEY: '${environment_api_secret_key}'
      {{- end }}
    {{- if .Values.config_directory }}
    # The configuration file and any secret_key_file it names, read-only.
    volumes:
      - '${config_directory}:/etc/rancher-ecr-credentials:ro'
    {{- end }}
    labels:
      io.rancher.container.pull_image: always
      {{- if eq .Values.registry_in_which_environment "current" }}
      io.rancher.container.create_agent: 'true'
      io.rancher.container.agent.role: environment
      {{- end }}
