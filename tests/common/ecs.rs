//! An ECS cluster in moto that can run `awsvpc` tasks: a VPC with DNS
//! hostnames on (moto's RunTask needs them), a subnet, a security group, a
//! Fargate task definition. EC2 is called through its query API by hand:
//! the SDK's EC2 crate would cost the build minutes for three calls.

use aws_config::SdkConfig;
use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, NetworkMode};

use super::unique;

pub struct Cluster {
    pub arn: String,
    pub subnet: String,
    pub security_group: String,
}

/// One EC2 query call; moto reads the service from the credential scope
/// and checks no signature.
async fn ec2(moto: &str, params: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Version", "2016-11-15");
    for (k, v) in params {
        form.append_pair(k, v);
    }
    let response = reqwest::Client::new()
        .post(format!("{moto}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261127/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(form.finish())
        .send()
        .await
        .expect("moto EC2");
    let text = response.text().await.unwrap();
    assert!(!text.contains("<Errors>"), "moto EC2 {params:?}: {text}");
    text
}

fn xml_value(xml: &str, tag: &str) -> String {
    let start = xml.find(&format!("<{tag}>")).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    xml[start..end].to_owned()
}

pub async fn cluster(moto: &str, aws: &SdkConfig) -> Cluster {
    let vpc = xml_value(&ec2(moto, &[("Action", "CreateVpc"), ("CidrBlock", "10.0.0.0/16")]).await, "vpcId");
    ec2(moto, &[("Action", "ModifyVpcAttribute"), ("VpcId", &vpc), ("EnableDnsHostnames.Value", "true")]).await;
    let subnet = xml_value(
        &ec2(moto, &[("Action", "CreateSubnet"), ("VpcId", &vpc), ("CidrBlock", "10.0.1.0/24")]).await,
        "subnetId",
    );
    let group_name = unique("jobs");
    let security_group = xml_value(
        &ec2(
            moto,
            &[
                ("Action", "CreateSecurityGroup"),
                ("GroupName", &group_name),
                ("GroupDescription", "jobs"),
                ("VpcId", &vpc),
            ],
        )
        .await,
        "groupId",
    );
    let out = aws_sdk_ecs::Client::new(aws).create_cluster().cluster_name(unique("market-pulse")).send().await.unwrap();
    let arn = out.cluster().unwrap().cluster_arn().unwrap().to_owned();
    Cluster { arn, subnet, security_group }
}

/// A Fargate task definition of one container; its ARN (with revision).
pub async fn fargate_definition(aws: &SdkConfig, family: &str, container: &str) -> String {
    let out = aws_sdk_ecs::Client::new(aws)
        .register_task_definition()
        .family(family)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("512")
        .memory("1024")
        .container_definitions(
            ContainerDefinition::builder()
                .name(container)
                .image("market-pulse-jobs:latest")
                .essential(true)
                .memory(512)
                .build(),
        )
        .send()
        .await
        .expect("register task definition in moto");
    out.task_definition().unwrap().task_definition_arn().unwrap().to_owned()
}

/// An EventBridge rule on a schedule whose target runs `definition` on the
/// cluster, in its subnet and security group.
pub async fn rule(aws: &SdkConfig, name: &str, cluster: &Cluster, definition: &str) {
    use aws_sdk_eventbridge::types::{AssignPublicIp, AwsVpcConfiguration, EcsParameters, LaunchType, Target};
    let events = aws_sdk_eventbridge::Client::new(aws);
    events.put_rule().name(name).schedule_expression("cron(0 3 * * ? *)").send().await.unwrap();
    let vpc = AwsVpcConfiguration::builder()
        .subnets(&cluster.subnet)
        .security_groups(&cluster.security_group)
        .assign_public_ip(AssignPublicIp::Disabled)
        .build()
        .unwrap();
    let parameters = EcsParameters::builder()
        .task_definition_arn(definition)
        .launch_type(LaunchType::Fargate)
        .network_configuration(
            aws_sdk_eventbridge::types::NetworkConfiguration::builder().awsvpc_configuration(vpc).build(),
        )
        .build()
        .unwrap();
    let target = Target::builder()
        .id("job")
        .arn(&cluster.arn)
        .role_arn("arn:aws:iam::123456789012:role/events")
        .ecs_parameters(parameters)
        .build()
        .unwrap();
    events.put_targets().rule(name).targets(target).send().await.unwrap();
}
